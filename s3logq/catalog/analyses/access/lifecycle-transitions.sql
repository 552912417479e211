-- name: lifecycle-transitions
-- aliases: LifecycleAction-Transition
-- title: Objects moved to another storage class by lifecycle
-- description: S3.TRANSITION* rows with the storage class the object moved to (S3.TRANSITION.OBJECT is
-- description: Glacier Flexible Retrieval, GLACIER); newest first.
-- parameters: since, until, bucket, key, prefix
-- columns: request_time, bucket_name, key, versionid, objectsize, storage_class, operation, requestid
-- key_columns: request_time, storage_class, bucket_name, key, objectsize
SELECT request_time, bucket_name, key, versionid, objectsize,
       CASE operation
           WHEN 'S3.TRANSITION_SIA.OBJECT' THEN 'STANDARD_IA'
           WHEN 'S3.TRANSITION_ZIA.OBJECT' THEN 'ONEZONE_IA'
           WHEN 'S3.TRANSITION_INT.OBJECT' THEN 'INTELLIGENT_TIERING'
           WHEN 'S3.TRANSITION_GIR.OBJECT' THEN 'GLACIER_IR'
           WHEN 'S3.TRANSITION.OBJECT' THEN 'GLACIER'
           WHEN 'S3.TRANSITION_GDA.OBJECT' THEN 'DEEP_ARCHIVE'
       END AS storage_class,
       operation, requestid
FROM access_log
WHERE operation LIKE 'S3.TRANSITION%'
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
ORDER BY request_time DESC, log_file, log_line
