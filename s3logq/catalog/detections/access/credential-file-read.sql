-- name: credential-file-read
-- title: Credential-like files read
-- severity: high
-- logs: access
-- technique: T1552.001
-- description: Successful reads of keys named like secrets (.env, credentials, id_rsa and other SSH keys,
-- description: *.pem, *.key, *.p12/*.pfx, .aws/, .git-credentials, .netrc, .npmrc, .pgpass, terraform.tfstate,
-- description: .htpasswd), once per key and requester.
-- identity: bucket_name, object_key, principal
-- evidence: run object-access --bucket {bucket_name} --key {object_key} --since {event_time}
WITH reads AS (
  SELECT *, requester AS principal
  FROM access_log
  WHERE operation = 'REST.GET.OBJECT'
    AND httpstatus IN (200, 206)
    AND regexp_matches(lower(key), '(^|/)(\.env(\.[^/]*)?|credentials(\.json|\.csv|\.txt)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]*\.(pem|key|p12|pfx)|\.git-credentials|\.netrc|\.npmrc|\.pgpass|\.htpasswd|terraform\.tfstate(\.backup)?)$|(^|/)\.aws/')
    AND ($since IS NULL OR request_time >= $since)
    AND ($until IS NULL OR request_time < $until)
)
SELECT min(request_time) AS event_time, bucket_name, key AS object_key, principal,
       arg_min(remoteip, request_time) AS source_ip,
       'credential-like file read' || CASE WHEN count(*) > 1 THEN ' ' || count(*) || ' times' ELSE '' END
         AS detail,
       count(*) AS reads
FROM reads
GROUP BY bucket_name, key, principal
ORDER BY event_time, bucket_name, object_key, principal
