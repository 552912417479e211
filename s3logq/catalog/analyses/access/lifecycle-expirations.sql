-- name: lifecycle-expirations
-- aliases: LifecycleAction-Expiration
-- title: Objects expired by lifecycle
-- description: S3.EXPIRE.OBJECT: objects (or noncurrent versions) permanently deleted by a lifecycle rule;
-- description: newest first.
-- parameters: since, until, bucket, key, prefix
-- columns: request_time, bucket_name, key, versionid, objectsize, requester, requestid
-- key_columns: request_time, bucket_name, key, objectsize, versionid
SELECT request_time, bucket_name, key, versionid, objectsize, requester, requestid
FROM access_log
WHERE operation = 'S3.EXPIRE.OBJECT'
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
ORDER BY request_time DESC, log_file, log_line
