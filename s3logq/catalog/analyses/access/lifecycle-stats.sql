-- name: lifecycle-stats
-- aliases: LifecycleActionStatistics
-- title: Lifecycle actions, counted
-- description: One row per lifecycle action (expirations, delete markers, aborted multipart uploads, each
-- description: transition class): objects and bytes. Bytes count the objects' sizes (0 where S3 logs none).
-- parameters: since, until, bucket, prefix
-- columns: action, operation, object_count, bytes
-- key_columns: action, object_count, bytes, operation
SELECT CASE operation
           WHEN 'S3.EXPIRE.OBJECT' THEN 'expiration'
           WHEN 'S3.CREATE.DELETEMARKER' THEN 'delete marker'
           WHEN 'S3.DELETE.UPLOAD' THEN 'aborted upload'
           WHEN 'S3.TRANSITION_SIA.OBJECT' THEN 'transition to STANDARD_IA'
           WHEN 'S3.TRANSITION_ZIA.OBJECT' THEN 'transition to ONEZONE_IA'
           WHEN 'S3.TRANSITION_INT.OBJECT' THEN 'transition to INTELLIGENT_TIERING'
           WHEN 'S3.TRANSITION_GIR.OBJECT' THEN 'transition to GLACIER_IR'
           WHEN 'S3.TRANSITION.OBJECT' THEN 'transition to GLACIER'
           WHEN 'S3.TRANSITION_GDA.OBJECT' THEN 'transition to DEEP_ARCHIVE'
           ELSE 'transition (' || operation || ')'
       END AS action,
       operation,
       count(*) AS object_count,
       coalesce(sum(objectsize), 0) AS bytes
FROM access_log
WHERE (operation IN ('S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER', 'S3.DELETE.UPLOAD')
       OR operation LIKE 'S3.TRANSITION%')
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
GROUP BY operation
ORDER BY action, operation
