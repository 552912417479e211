-- name: public-policy-or-acl
-- title: Bucket policy or ACL opened to everyone
-- severity: high
-- logs: cloudtrail
-- technique: T1530
-- description: A successful PutBucketPolicy whose policy has an Allow statement for Principal * (or
-- description: {"AWS": "*"}), or a PutBucketAcl, PutObjectAcl or CreateBucket with a public canned ACL
-- description: (public-read, public-read-write, authenticated-read) or a grant to AllUsers/AuthenticatedUsers.
-- identity: eventid
-- evidence: run public-exposure --logs cloudtrail --bucket {bucket_name} --since {event_time}
-- The policy test is the regular expression of the public-exposure analysis (one statement with Allow and *).
WITH events AS (
  SELECT *, nullif(regexp_extract(requestparameters, '"x-amz-acl":\[?"([^"]+)"', 1), '') AS canned_acl
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('PutBucketPolicy', 'PutBucketAcl', 'PutObjectAcl', 'CreateBucket')
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
),
found AS (
  SELECT *,
         CASE
           WHEN eventname = 'PutBucketPolicy' THEN
             CASE WHEN regexp_matches(requestparameters,
               '\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"')
               THEN 'bucket policy allows Principal *' END
           WHEN canned_acl IN ('public-read', 'public-read-write', 'authenticated-read')
             THEN CASE WHEN eventname = 'PutObjectAcl' THEN 'object' ELSE 'bucket' END || ' ACL ' || canned_acl
           WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AllUsers%'
             THEN CASE WHEN eventname = 'PutObjectAcl' THEN 'object' ELSE 'bucket' END || ' ACL grants to AllUsers'
           WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AuthenticatedUsers%'
             THEN CASE WHEN eventname = 'PutObjectAcl' THEN 'object' ELSE 'bucket' END
                  || ' ACL grants to AuthenticatedUsers'
         END AS change
  FROM events
)
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip, eventname || ': ' || change AS detail, eventid, eventname, account_id
FROM found
WHERE change IS NOT NULL
ORDER BY event_time, eventid
