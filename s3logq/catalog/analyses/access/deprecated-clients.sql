-- name: deprecated-clients
-- title: Clients to fix before tightening the bucket
-- description: Per requester, requests signed with SigV2, made over TLS below 1.2, or that needed an ACL
-- description: (aclrequired Yes: they break when ACLs are disabled), with one of their user agents.
-- parameters: since, until, bucket, prefix, requester, operation, ip
-- columns: requester, requests, sigv2_requests, old_tls_requests, acl_required_requests, first_seen, last_seen, sample_useragent
-- key_columns: requester, requests, sigv2_requests, old_tls_requests, acl_required_requests
SELECT requester,
       count(*) AS requests,
       count(CASE WHEN sigv = 'SigV2' THEN 1 END) AS sigv2_requests,
       count(CASE WHEN tlsversion IN ('TLSv1', 'TLSv1.0', 'TLSv1.1') THEN 1 END) AS old_tls_requests,
       count(CASE WHEN aclrequired = 'Yes' THEN 1 END) AS acl_required_requests,
       min(request_time) AS first_seen,
       max(request_time) AS last_seen,
       max(useragent) AS sample_useragent
FROM access_log
WHERE (sigv = 'SigV2' OR tlsversion IN ('TLSv1', 'TLSv1.0', 'TLSv1.1') OR aclrequired = 'Yes')
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($ip IS NULL OR remoteip = $ip)
GROUP BY requester
ORDER BY requests DESC, requester NULLS LAST
