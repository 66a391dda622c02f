-- wrk script: GET with the bearer token in $TOKEN (scripts/bench.sh sets it).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
