-- name: deletions
-- aliases: ObjectDeletion
-- title: Object deletions
-- description: Objects deleted, one row per key: DELETE requests and each key of a multi-object delete
-- description: (cause api), lifecycle expirations and delete markers (cause lifecycle). Refused deletes, aborted
-- description: uploads, tag deletions and bucket deletions are not object deletions and are left out; newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, ip
-- columns: request_time, cause, requester, remoteip, operation, httpstatus, bucket_name, key, versionid, objectsize, useragent, requestid, hostid
-- key_columns: request_time, cause, operation, bucket_name, key, requester, versionid
SELECT request_time,
       CASE WHEN operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT') THEN 'api' ELSE 'lifecycle' END
           AS cause,
       requester, remoteip, operation, httpstatus, bucket_name, key, versionid, objectsize, useragent,
       requestid, hostid
FROM access_log
WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT', 'S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')
  -- lifecycle rows carry no HTTP status; a refused DELETE deleted nothing
  AND (httpstatus IS NULL OR httpstatus BETWEEN 200 AND 299)
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
