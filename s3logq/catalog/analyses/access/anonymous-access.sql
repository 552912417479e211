-- name: anonymous-access
-- title: Anonymous requests
-- description: Requests with no authenticated requester (logged as '-'), refused ones included: public reads,
-- description: website hits, and anonymous multi-object deletes (their BATCH.DELETE.OBJECT rows are the keys
-- description: deleted). S3's own lifecycle rows (operation S3.*) are left out: no client made them.
-- parameters: since, until, bucket, key, prefix, operation, status, ip
-- columns: request_time, remoteip, operation, httpstatus, errorcode, bucket_name, key, useragent, referrer, endpoint, requestid, hostid
-- key_columns: request_time, operation, httpstatus, bucket_name, key, remoteip, useragent
SELECT request_time, remoteip, operation, httpstatus, errorcode, bucket_name, key, useragent, referrer,
       endpoint, requestid, hostid
FROM access_log
WHERE requester IS NULL
  AND operation NOT LIKE 'S3.%'
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($status IS NULL OR httpstatus = $status)
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
