-- name: logging-disabled
-- title: Server access logging turned off
-- severity: high
-- logs: cloudtrail
-- technique: T1562.008
-- description: A successful PutBucketLogging with an empty BucketLoggingStatus (no LoggingEnabled): the
-- description: bucket's requests are no longer logged.
-- identity: eventid
-- evidence: run bucket-config-changes --logs cloudtrail --bucket {bucket_name} --since {event_time}
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip, 'server access logging turned off' AS detail, eventid, eventname, account_id
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND errorcode IS NULL
  AND eventname = 'PutBucketLogging'
  AND json_extract(requestparameters, '$.BucketLoggingStatus') IS NOT NULL
  AND json_extract(requestparameters, '$.BucketLoggingStatus.LoggingEnabled') IS NULL
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
ORDER BY event_time, eventid
