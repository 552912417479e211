-- name: access-denied
-- title: Access denied (403)
-- description: Requests refused with 403, with who asked and how they signed (signature version, auth
-- description: type, TLS version, user agent) to tell a missing permission from a bad client; newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, ip
-- columns: request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, authtype, sigv, tlsversion, useragent, requestid, hostid
-- key_columns: request_time, operation, httpstatus, errorcode, bucket_name, key, requester, remoteip
SELECT request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, authtype,
       sigv, tlsversion, useragent, requestid, hostid
FROM access_log
WHERE httpstatus = 403
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
