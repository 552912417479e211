-- name: requests
-- title: Requests
-- description: Every request (the guidance's API request details), narrowed by any filter; newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, bucket_name, operation, key, httpstatus, errorcode, requester, remoteip, useragent, bytessent, objectsize, totaltime, turnaroundtime, versionid, sigv, authtype, tlsversion, aclrequired, requestid, hostid
-- key_columns: request_time, operation, httpstatus, bucket_name, key, requester, remoteip, errorcode
SELECT request_time, bucket_name, operation, key, httpstatus, errorcode, requester, remoteip, useragent,
       bytessent, objectsize, totaltime, turnaroundtime, versionid, sigv, authtype, tlsversion, aclrequired,
       requestid, hostid
FROM access_log
WHERE ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($status IS NULL OR httpstatus = $status)
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
