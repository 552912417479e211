-- name: public-exposure
-- title: Changes that can make data public
-- description: Successful S3 events that opened access to everyone: a bucket policy allowing Principal *,
-- description: a public ACL (canned public-read, public-read-write or authenticated-read, or a grant to
-- description: AllUsers or AuthenticatedUsers) on a bucket or object, a public access block with a flag
-- description: turned off or deleted, bucket or account level; a `finding` column says which. --bucket keeps
-- description: account-level events.
-- parameters: since, until, bucket, requester, operation
-- columns: event_time, finding, eventname, bucket_name, object_key, user_arn, account_id, sourceipaddress,
-- columns: useragent, awsregion, requestid, requestparameters
-- key_columns: event_time, finding, bucket_name, object_key, user_arn, eventname
-- An ACL finding names the canned ACL first, then AllUsers, then AuthenticatedUsers (the first that applies).
-- The policy test is the regular expression of bucket-config-changes (one statement with Allow and *).
WITH events AS (
  SELECT event_time, eventid, eventname, bucket_name, object_key, user_arn, account_id, sourceipaddress,
         useragent, awsregion, requestid, requestparameters,
         CASE WHEN eventname LIKE '%Account%' THEN 'account ' ELSE '' END AS scope,
         nullif(regexp_extract(requestparameters, '"x-amz-acl":\[?"([^"]+)"', 1), '') AS canned_acl
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('PutBucketPolicy', 'CreateBucket', 'PutBucketAcl', 'PutObjectAcl', 'PutObject', 'CopyObject',
                      'CreateMultipartUpload', 'PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock',
                      'DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
    AND ($bucket IS NULL OR bucket_name = $bucket OR bucket_name IS NULL)
    AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
    AND ($operation IS NULL OR eventname = $operation)
),
findings AS (
  SELECT *,
         CASE
           WHEN eventname = 'PutBucketPolicy' THEN
             CASE WHEN regexp_matches(requestparameters,
               '\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"')
               THEN 'policy allows Principal *' END
           WHEN eventname LIKE '%PublicAccessBlock' AND eventname LIKE 'Delete%' THEN
             scope || 'public access block deleted'
           WHEN eventname LIKE '%PublicAccessBlock' THEN
             CASE WHEN json_extract(requestparameters, '$.PublicAccessBlockConfiguration') IS NOT NULL THEN
               scope || 'public access block off: ' || nullif(concat_ws(', ',
                 CASE WHEN coalesce(lower(json_extract_string(requestparameters,
                   '$.PublicAccessBlockConfiguration.BlockPublicAcls')), 'false') <> 'true'
                   THEN 'BlockPublicAcls=false' END,
                 CASE WHEN coalesce(lower(json_extract_string(requestparameters,
                   '$.PublicAccessBlockConfiguration.IgnorePublicAcls')), 'false') <> 'true'
                   THEN 'IgnorePublicAcls=false' END,
                 CASE WHEN coalesce(lower(json_extract_string(requestparameters,
                   '$.PublicAccessBlockConfiguration.BlockPublicPolicy')), 'false') <> 'true'
                   THEN 'BlockPublicPolicy=false' END,
                 CASE WHEN coalesce(lower(json_extract_string(requestparameters,
                   '$.PublicAccessBlockConfiguration.RestrictPublicBuckets')), 'false') <> 'true'
                   THEN 'RestrictPublicBuckets=false' END), '')
             END
           WHEN canned_acl IN ('public-read', 'public-read-write', 'authenticated-read') THEN 'ACL ' || canned_acl
           WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AllUsers%' THEN 'ACL grants to AllUsers'
           WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AuthenticatedUsers%'
             THEN 'ACL grants to AuthenticatedUsers'
         END AS finding
  FROM events
)
SELECT event_time, finding, eventname, bucket_name, object_key, user_arn, account_id, sourceipaddress, useragent,
       awsregion, requestid, requestparameters
FROM findings
WHERE finding IS NOT NULL
ORDER BY event_time, eventid
