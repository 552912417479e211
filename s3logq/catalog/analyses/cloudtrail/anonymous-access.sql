-- name: anonymous-access
-- aliases: AnonymousAccess
-- title: Requests without credentials (CloudTrail)
-- description: Every event made with no AWS identity: userIdentity accountId or principalId 'anonymous' or
-- description: 'ANONYMOUS_PRINCIPAL', any case (the type is AWSAccount), oldest first.
-- parameters: since, until, bucket, key, prefix, operation, ip
-- columns: event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
-- columns: user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
-- key_columns: event_time, eventname, bucket_name, object_key, sourceipaddress, useragent
SELECT event_time, eventname, eventsource, sourceipaddress, useragent, awsregion, bucket_name, object_key,
       user_arn, account_id, errorcode, errormessage, requestid, requestparameters, additionaleventdata
FROM cloudtrail
WHERE (lower(useridentity.accountid) IN ('anonymous', 'anonymous_principal')
       OR lower(useridentity.principalid) IN ('anonymous', 'anonymous_principal'))
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR object_key = $key)
  AND ($prefix IS NULL OR starts_with(object_key, $prefix))
  AND ($operation IS NULL OR eventname = $operation)
  AND ($ip IS NULL OR sourceipaddress = $ip)
ORDER BY event_time, eventid
