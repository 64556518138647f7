#!/usr/bin/env bash
# Live escalation run against a real server (see the issue 3 closing note).
set -euo pipefail
export ECONSULT_DATA_DIR=$(mktemp -d)/var
export ECONSULT_MFA_REQUIRED=none  # the demo accounts log in with passwords alone
E=${ECONSULT_BIN:-.venv/bin/econsult}
$E demo --consults 0 --no-serve > /dev/null
$E serve --port 8017 > /tmp/esc-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER' EXIT
sleep 2
B=http://127.0.0.1:8017/api/v1
login() { curl -s -c "/tmp/jar-$1" -H 'content-type: application/json' \
  -d "{\"email\":\"$1@demo.econsult.org\",\"password\":\"econsult-demo-2026\"}" $B/auth/login | python3 -c 'import sys,json; print(json.load(sys.stdin)["csrf_token"])'; }
STAFF=$(login staff); GP=$(login gp)
echo "# staff: urgent dermatology must be acknowledged within 5 seconds"
curl -s -b /tmp/jar-staff -X PUT -H "X-CSRF-Token: $STAFF" -H 'content-type: application/json' \
  -d '{"urgent": {"acknowledge_within": "PT5S", "respond_within": "PT2H"}}' $B/specialties/dermatology/targets; echo
NOW=$(date -u +%Y-%m-%dT%H:%M:%S+00:00); END=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S+00:00)
echo "# staff: derm1 primary, derm2 backup, on call now"
curl -s -b /tmp/jar-staff -H "X-CSRF-Token: $STAFF" -H 'content-type: application/json' \
  -d "{\"specialist\":\"derm1@demo.econsult.org\",\"starts_at\":\"$NOW\",\"ends_at\":\"$END\",\"tier\":\"primary\"}" $B/rota/dermatology/shifts; echo
curl -s -b /tmp/jar-staff -H "X-CSRF-Token: $STAFF" -H 'content-type: application/json' \
  -d "{\"specialist\":\"derm2@demo.econsult.org\",\"starts_at\":\"$NOW\",\"ends_at\":\"$END\",\"tier\":\"backup\"}" $B/rota/dermatology/shifts; echo
echo "# gp: urgent dermatology consult"
R=$(curl -s -b /tmp/jar-gp -H "X-CSRF-Token: $GP" -F specialty=dermatology -F urgency=urgent \
  -F 'question=Rapidly spreading painful rash with fever, ?SJS' -F 'patient_name=Test Patient' \
  -F patient_dob=1980-01-01 -F 'patient_health_number=9123456789' $B/consults)
echo "$R"
ID=$(echo "$R" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
echo "# waiting 13 s without anyone acknowledging..."
sleep 13
curl -s -b /tmp/jar-gp $B/consults/$ID | python3 -c '
import sys, json
d = json.load(sys.stdin)
print("state:", d["state"], "assigned_to:", d["assignee"])
for e in d["events"]:
    print("  %s  %-12s by %-16s %s" % (e["at"], e["type"], e["actor_name"], e.get("reason", "")))'
echo "# nephrology has nobody on call: the consult lands in the pool"
curl -s -b /tmp/jar-gp -H "X-CSRF-Token: $GP" -F specialty=nephrology -F urgency=routine \
  -F 'question=eGFR falling from 60 to 41 over a year, next steps?' -F 'patient_name=Test Patient' \
  -F patient_dob=1980-01-01 -F 'patient_health_number=9123456789' $B/consults; echo
