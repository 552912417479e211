-- name: request-lookup
-- title: Look up a request ID
-- description: The full access-log record of a request ID or host ID (x-amz-id-2) from an error message or a
-- description: support case (--request-id); a multi-object delete gives one row per key.
-- parameters: since, until, request_id
-- columns: bucketowner, bucket_name, request_time, remoteip, requester, requestid, operation, key, request_uri, httpstatus, errorcode, bytessent, objectsize, totaltime, turnaroundtime, referrer, useragent, versionid, hostid, sigv, ciphersuite, authtype, endpoint, tlsversion, accesspointarn, aclrequired, source_region, http_method, log_file, log_line
-- key_columns: request_time, requestid, operation, httpstatus, errorcode, bucket_name, key, requester, remoteip
SELECT bucketowner, bucket_name, request_time, remoteip, requester, requestid, operation, key, request_uri,
       httpstatus, errorcode, bytessent, objectsize, totaltime, turnaroundtime, referrer, useragent,
       versionid, hostid, sigv, ciphersuite, authtype, endpoint, tlsversion, accesspointarn, aclrequired,
       source_region, http_method, log_file, log_line
FROM (
    -- Two lookups, not one OR: each equality can use its column's Bloom filters and skip row groups
    -- (0.3 s -> 0.03 s on 1.7 M rows).
    SELECT * FROM access_log WHERE requestid = $request_id
    UNION ALL
    SELECT * FROM access_log WHERE hostid = $request_id AND requestid IS DISTINCT FROM $request_id
) AS matched
WHERE ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
ORDER BY request_time, log_file, log_line
