-- name: object-deletions
-- aliases: DeleteObject-*, DeleteObject, DeleteObjects
-- title: Object deletions (CloudTrail)
-- description: Every DeleteObject and DeleteObjects event, oldest first. CloudTrail does not record the keys
-- description: a DeleteObjects (multi-object delete) removed, so those rows have no object_key and --key/--prefix leave
-- description: them out; access logs do list them (s3logq run deletions --logs access).
-- parameters: since, until, bucket, key, prefix, requester, operation, ip
-- columns: event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
-- columns: user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
-- key_columns: event_time, eventname, bucket_name, object_key, user_arn, sourceipaddress
SELECT event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
       user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND eventname IN ('DeleteObject', 'DeleteObjects')
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR object_key = $key)
  AND ($prefix IS NULL OR starts_with(object_key, $prefix))
  AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
  AND ($operation IS NULL OR eventname = $operation)
  AND ($ip IS NULL OR sourceipaddress = $ip)
ORDER BY event_time, eventid
