-- name: server-errors
-- aliases: ServiceError-5xx
-- title: Server errors (5xx)
-- description: Requests answered with a 5xx status (InternalError, SlowDown throttling, ...), with the
-- description: error code and timings; newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, versionid, totaltime, useragent, authtype, requestid, hostid
-- key_columns: request_time, operation, httpstatus, errorcode, bucket_name, key, totaltime
SELECT request_time, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, versionid,
       totaltime, useragent, authtype, requestid, hostid
FROM access_log
WHERE httpstatus BETWEEN 500 AND 599
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
