-- pgbench script: the reads of GET /v1/cases/{id} (the case row and its
-- linked report ids) for the case named by -D case_id=….
SELECT * FROM cases WHERE id = :case_id;
SELECT report_id FROM case_reports WHERE case_id = :case_id ORDER BY linked_at, report_id;
