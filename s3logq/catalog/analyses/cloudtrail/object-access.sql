-- name: object-access
-- aliases: ObjectAccess, GetObject
-- title: Who read an object (CloudTrail)
-- description: Every GetObject data event, denied ones included (errorcode set), oldest first. Needs a trail
-- description: that logs S3 data events.
-- parameters: since, until, bucket, key, prefix, requester, ip
-- columns: event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
-- columns: user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
-- key_columns: event_time, eventname, bucket_name, object_key, user_arn, sourceipaddress
SELECT event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
       user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND eventname = 'GetObject'
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR object_key = $key)
  AND ($prefix IS NULL OR starts_with(object_key, $prefix))
  AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
  AND ($ip IS NULL OR sourceipaddress = $ip)
ORDER BY event_time, eventid
