-- name: latency
-- aliases: Latency
-- title: Slowest requests
-- description: Requests whose turn-around time (S3's own processing, ms) is known, slowest first, with the
-- description: total time (which adds the network transfer) beside it.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, operation, httpstatus, bucket_name, key, objectsize, totaltime, turnaroundtime, requester, remoteip, useragent, requestid
-- key_columns: request_time, totaltime, turnaroundtime, operation, httpstatus, bucket_name, key
SELECT request_time, operation, httpstatus, bucket_name, key, objectsize, totaltime, turnaroundtime,
       requester, remoteip, useragent, requestid
FROM access_log
WHERE turnaroundtime IS NOT NULL
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($status IS NULL OR httpstatus = $status)
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY turnaroundtime DESC, totaltime DESC NULLS LAST, request_time DESC, log_file, log_line
