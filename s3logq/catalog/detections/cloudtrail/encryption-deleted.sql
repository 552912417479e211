-- name: encryption-deleted
-- title: Default encryption deleted
-- severity: medium
-- logs: cloudtrail
-- technique: T1562
-- description: A successful DeleteBucketEncryption: the bucket's default encryption configuration was removed.
-- identity: eventid
-- evidence: run bucket-config-changes --logs cloudtrail --bucket {bucket_name} --since {event_time}
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip, 'default encryption deleted' AS detail, eventid, eventname, account_id
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND errorcode IS NULL
  AND eventname = 'DeleteBucketEncryption'
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
ORDER BY event_time, eventid
