-- name: client-errors
-- aliases: ClientError-4xx
-- title: Client errors (4xx)
-- description: Requests answered with a 4xx status (denied, not found, bad request, ...), with the error
-- description: code, in every bucket unless --bucket is given; newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, versionid, useragent, authtype, aclrequired, requestid, hostid
-- key_columns: request_time, operation, httpstatus, errorcode, bucket_name, key, requester, remoteip
SELECT request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, versionid,
       useragent, authtype, aclrequired, requestid, hostid
FROM access_log
WHERE httpstatus BETWEEN 400 AND 499
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($status IS NULL OR httpstatus = $status)
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
