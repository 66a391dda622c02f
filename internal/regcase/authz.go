package regcase

import (
	"fmt"
	"slices"
)

// Role is what an authenticated caller may do. Every token, user and OIDC
// subject has exactly one role.
type Role string

// The roles. RoleAnonymous is the unauthenticated public.
const (
	RoleAnonymous    Role = "anonymous"
	RoleIntake       Role = "intake"
	RoleInvestigator Role = "investigator"
	RoleSupervisor   Role = "supervisor"
	RoleAuditor      Role = "auditor"
	RoleAdmin        Role = "admin"
)

// Roles lists every role, anonymous first.
var Roles = []Role{RoleAnonymous, RoleIntake, RoleInvestigator, RoleSupervisor, RoleAuditor, RoleAdmin}

// StaffRoles are the roles a token can be minted for.
var StaffRoles = Roles[1:]

// ParseRole validates a staff role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(StaffRoles, r) {
		return r, nil
	}
	return "", FieldError("role", "unknown role %q (want one of intake, investigator, supervisor, auditor, admin)", s)
}

// Action names one thing a caller can ask for. The matrix below is the single
// source of truth for who may ask; the lifecycle further narrows transitions.
type Action string

// The actions.
const (
	ActReportCreate     Action = "report.create"
	ActReportPublicView Action = "report.public_view"
	ActReportList       Action = "report.list"
	ActReportRead       Action = "report.read"
	ActReportReadPII    Action = "report.read_pii"
	ActReportDismiss    Action = "report.dismiss"
	ActReportTriage     Action = "report.triage"
	ActReportErase      Action = "report.erase"
	ActCaseList         Action = "case.list"
	ActCaseRead         Action = "case.read"
	ActCaseCreate       Action = "case.create"
	ActCaseUpdate       Action = "case.update"
	ActCaseTransition   Action = "case.transition"
	ActCaseAssign       Action = "case.assign"
	ActCaseSLA          Action = "case.sla"
	// ActCaseLowerPriority is the part of case.update that lowers a case's
	// priority (and so lengthens its SLA): a supervisor's decision.
	ActCaseLowerPriority Action = "case.lower_priority"
	ActNoteRead          Action = "note.read"
	// ActCaseMessageRead and ActCaseMessageSend are the officers' side of
	// the anonymous channel with the reporters of a case's reports.
	ActCaseMessageRead Action = "case.message.read"
	ActCaseMessageSend Action = "case.message.send"
	// ActAttachmentRead lists and downloads evidence files (of reports and
	// cases); ActCaseAttachmentAdd uploads one to a case.
	ActAttachmentRead    Action = "attachment.read"
	ActCaseAttachmentAdd Action = "case.attachment.add"
	ActNoteCreate        Action = "note.create"
	ActAuditRead         Action = "audit.read"
	ActAuditVerify       Action = "audit.verify"
	// ActDashboardRead is the supervisor dashboard (aggregates over every
	// case: backlog, ageing, compliance, intake).
	ActDashboardRead Action = "dashboard.read"
	ActTokenManage   Action = "token.manage"
	ActWebhookManage Action = "webhook.manage"
	ActEventManage   Action = "event.manage"
)

var (
	everyone = []Role{RoleAnonymous, RoleIntake, RoleInvestigator, RoleSupervisor, RoleAuditor, RoleAdmin}
	officers = []Role{RoleIntake, RoleInvestigator, RoleSupervisor, RoleAuditor}
	workers  = []Role{RoleIntake, RoleInvestigator, RoleSupervisor}
)

// Matrix is the role × action authorization table.
var Matrix = map[Action][]Role{
	ActReportCreate:      everyone,
	ActReportPublicView:  everyone,
	ActReportList:        officers,
	ActReportRead:        officers,
	ActReportReadPII:     {RoleIntake, RoleSupervisor},
	ActReportDismiss:     {RoleIntake, RoleSupervisor},
	ActReportTriage:      {RoleIntake, RoleSupervisor},
	ActReportErase:       {RoleSupervisor, RoleAdmin},
	ActCaseList:          officers,
	ActCaseRead:          officers,
	ActCaseCreate:        {RoleIntake, RoleSupervisor},
	ActCaseUpdate:        {RoleInvestigator, RoleSupervisor},
	ActCaseTransition:    {RoleInvestigator, RoleSupervisor},
	ActCaseAssign:        {RoleInvestigator, RoleSupervisor},
	ActCaseSLA:           {RoleInvestigator, RoleSupervisor},
	ActCaseLowerPriority: {RoleSupervisor},
	ActNoteRead:          {RoleInvestigator, RoleSupervisor, RoleAuditor},
	ActNoteCreate:        workers,
	ActCaseMessageRead:   {RoleInvestigator, RoleSupervisor, RoleAuditor},
	ActCaseMessageSend:   {RoleInvestigator, RoleSupervisor},
	ActAttachmentRead:    officers,
	ActCaseAttachmentAdd: {RoleInvestigator, RoleSupervisor},
	ActAuditRead:         {RoleAuditor, RoleSupervisor},
	ActAuditVerify:       {RoleAuditor, RoleAdmin},
	ActDashboardRead:     {RoleSupervisor},
	ActTokenManage:       {RoleAdmin},
	ActWebhookManage:     {RoleAdmin},
	ActEventManage:       {RoleAdmin},
}

// Can reports whether role may perform act.
func Can(role Role, act Action) bool {
	return slices.Contains(Matrix[act], role)
}

// Authorize returns EUnauthorized for an anonymous caller and EForbidden for
// an authenticated one when role may not perform act.
func Authorize(a Actor, act Action) error {
	if Can(a.Role, act) {
		return nil
	}
	if a.Role == RoleAnonymous || a.Role == "" {
		return Errorf(EUnauthorized, "authentication required")
	}
	return Errorf(EForbidden, "role %s may not %s", a.Role, act)
}

// Actor is the caller of an operation, recorded in every audit record.
type Actor struct {
	ID   string // stable subject id: "token:<id>", "oidc:<sub>", "public", "system"
	Name string // display name, for humans
	Role Role
	Addr string // source address
	// RequestID correlates the audit record and event with the request log.
	RequestID string
}

// SystemActor is the actor for work the platform does by itself.
func SystemActor(name string) Actor {
	return Actor{ID: "system:" + name, Name: name, Role: RoleAdmin, Addr: "local"}
}

func (a Actor) String() string { return fmt.Sprintf("%s(%s)", a.ID, a.Role) }
