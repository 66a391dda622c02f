-- wrk script: GET with the bearer token in $TOKEN when it is set
-- (scripts/bench.sh sets it).
local token = os.getenv("TOKEN")
if token and token ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. token
end
