-- name: access-denied
-- aliases: AccessDenied
-- title: Denied S3 requests (CloudTrail)
-- description: S3 events (eventsource s3.amazonaws.com) that failed with errorCode AccessDenied, bucket and
-- description: object level, oldest first; denials by other services are left out.
-- parameters: since, until, bucket, key, prefix, requester, operation, ip
-- columns: event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
-- columns: user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
-- key_columns: event_time, eventname, errorcode, bucket_name, object_key, user_arn, sourceipaddress
SELECT event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
       user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND errorcode = 'AccessDenied'
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR object_key = $key)
  AND ($prefix IS NULL OR starts_with(object_key, $prefix))
  AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
  AND ($operation IS NULL OR eventname = $operation)
  AND ($ip IS NULL OR sourceipaddress = $ip)
ORDER BY event_time, eventid
