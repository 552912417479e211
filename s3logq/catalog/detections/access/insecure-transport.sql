-- name: insecure-transport
-- title: SigV2 or TLS below 1.2
-- severity: low
-- logs: access
-- technique: T1040
-- description: Requests signed with Signature Version 2, or made over TLS 1.0 or 1.1, or over plain HTTP (an
-- description: endpoint but no TLS version), once per requester, bucket and weakness.
-- identity: bucket_name, principal, weakness
-- evidence: run deprecated-clients --bucket {bucket_name} --requester {principal}
WITH weak AS (
  SELECT *, requester AS principal,
         unnest(list_filter([
           CASE WHEN sigv = 'SigV2' THEN 'SigV2' END,
           CASE WHEN tlsversion IN ('TLSv1', 'TLSv1.0', 'TLSv1.1') THEN tlsversion END,
           CASE WHEN tlsversion IS NULL AND endpoint IS NOT NULL AND operation LIKE 'REST.%' THEN 'no TLS' END],
           lambda weakness: weakness IS NOT NULL)) AS weakness
  FROM access_log
  WHERE (sigv = 'SigV2' OR tlsversion IN ('TLSv1', 'TLSv1.0', 'TLSv1.1')
         OR (tlsversion IS NULL AND endpoint IS NOT NULL AND operation LIKE 'REST.%'))
    AND ($since IS NULL OR request_time >= $since)
    AND ($until IS NULL OR request_time < $until)
)
SELECT min(request_time) AS event_time, bucket_name, arg_min(key, request_time) AS object_key, principal,
       arg_min(remoteip, request_time) AS source_ip, weakness || ' used: ' || count(*) || CASE WHEN count(*) = 1 THEN ' request' ELSE ' requests' END AS detail,
       weakness, count(*) AS requests
FROM weak
GROUP BY bucket_name, principal, weakness
ORDER BY event_time, bucket_name, principal, weakness
