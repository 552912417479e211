-- name: versioning-suspended
-- title: Versioning suspended
-- description: PutBucketVersioning events whose requested status is Suspended (after which deletes and
-- description: overwrites are permanent), failed attempts included (errorcode set), oldest first.
-- parameters: since, until, bucket, requester
-- columns: event_time, eventname, bucket_name, user_arn, account_id, sourceipaddress, useragent, awsregion,
-- columns: errorcode, errormessage, requestid, requestparameters
-- key_columns: event_time, bucket_name, user_arn, eventname, sourceipaddress
SELECT event_time, eventname, bucket_name, user_arn, account_id, sourceipaddress, useragent, awsregion,
       errorcode, errormessage, requestid, requestparameters
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND eventname = 'PutBucketVersioning'
  AND json_extract_string(requestparameters, '$.VersioningConfiguration.Status') = 'Suspended'
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
ORDER BY event_time, eventid
