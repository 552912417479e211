-- name: replication-to-other-account
-- title: Replication to a bucket of another account
-- severity: high
-- logs: cloudtrail
-- technique: T1537
-- description: A successful PutBucketReplication whose rules send copies to a destination of another account
-- description: (a Destination Account that is not the bucket owner's): every new object is copied out.
-- identity: eventid
-- evidence: run bucket-config-changes --logs cloudtrail --bucket {bucket_name} --since {event_time}
WITH events AS (
  SELECT *,
         list_distinct(list_filter(
           regexp_extract_all(requestparameters, '"Destination":\{[^{}]*"Account":"(\d{12})"', 1),
           lambda destination: destination <> coalesce(recipientaccountid, account_id))) AS other_accounts
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname = 'PutBucketReplication'
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
)
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip,
       'replication to account ' || array_to_string(list_sort(other_accounts), ', ') AS detail,
       eventid, eventname, account_id
FROM events
WHERE array_length(other_accounts) > 0
ORDER BY event_time, eventid
