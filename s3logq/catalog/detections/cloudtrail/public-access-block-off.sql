-- name: public-access-block-off
-- title: Block Public Access turned off or deleted
-- severity: high
-- logs: cloudtrail
-- technique: T1530
-- description: A successful Put(Bucket|Account)PublicAccessBlock that leaves any of the four flags false, or a
-- description: Delete(Bucket|Account)PublicAccessBlock: the bucket (or every bucket of the account) may now be
-- description: made public by a policy or an ACL. Flags left out of the request are false (the API replaces
-- description: the whole configuration).
-- identity: eventid
-- evidence: run public-exposure --logs cloudtrail --bucket {bucket_name} --since {event_time}
WITH events AS (
  SELECT *, CASE WHEN eventname LIKE '%Account%' THEN 'account ' ELSE 'bucket ' END AS scope
  FROM cloudtrail
  WHERE eventsource IN ('s3.amazonaws.com', 's3-control.amazonaws.com')
    AND errorcode IS NULL
    AND eventname IN ('PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock',
                      'DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
),
found AS (
  SELECT *,
         CASE
           WHEN eventname LIKE 'Delete%' THEN scope || 'public access block deleted'
           ELSE scope || 'public access block off: ' || nullif(concat_ws(', ',
             CASE WHEN coalesce(lower(json_extract_string(requestparameters,
               '$.PublicAccessBlockConfiguration.BlockPublicAcls')), 'false') <> 'true' THEN 'BlockPublicAcls' END,
             CASE WHEN coalesce(lower(json_extract_string(requestparameters,
               '$.PublicAccessBlockConfiguration.IgnorePublicAcls')), 'false') <> 'true' THEN 'IgnorePublicAcls' END,
             CASE WHEN coalesce(lower(json_extract_string(requestparameters,
               '$.PublicAccessBlockConfiguration.BlockPublicPolicy')), 'false') <> 'true' THEN 'BlockPublicPolicy' END,
             CASE WHEN coalesce(lower(json_extract_string(requestparameters,
               '$.PublicAccessBlockConfiguration.RestrictPublicBuckets')), 'false') <> 'true'
               THEN 'RestrictPublicBuckets' END), '')
         END AS change
  FROM events
)
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip, change AS detail, eventid, eventname, account_id
FROM found
WHERE change IS NOT NULL
ORDER BY event_time, eventid
