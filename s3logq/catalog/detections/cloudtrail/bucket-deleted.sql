-- name: bucket-deleted
-- title: Bucket deleted
-- severity: medium
-- logs: cloudtrail
-- technique: T1485
-- description: A successful DeleteBucket.
-- identity: eventid
-- evidence: run bucket-deleted --logs cloudtrail --bucket {bucket_name} --since {event_time}
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip, 'bucket deleted' AS detail, eventid, eventname, account_id
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND errorcode IS NULL
  AND eventname = 'DeleteBucket'
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
ORDER BY event_time, eventid
