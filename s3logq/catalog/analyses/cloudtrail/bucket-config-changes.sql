-- name: bucket-config-changes
-- aliases: PutBucket-*, DeleteBucket-*, PutBucket
-- title: Bucket configuration changes
-- description: Every CreateBucket, DeleteBucket, PutBucket* and DeleteBucket* event, and the account-level
-- description: Put/DeleteAccountPublicAccessBlock, with a `change` column that says what was set (e.g.
-- description: "versioning: Suspended", "public access block: BlockPublicPolicy=false", "policy: allows
-- description: Principal *"); failed attempts included (errorcode set); --bucket keeps account-level events.
-- parameters: since, until, bucket, requester, operation
-- columns: event_time, eventname, change, bucket_name, user_arn, account_id, sourceipaddress, useragent,
-- columns: awsregion, errorcode, errormessage, requestid, requestparameters
-- key_columns: event_time, eventname, bucket_name, change, user_arn
-- Public access block flags left out of a request are false (the API replaces the whole configuration).
-- The policy test is a regular expression over the compact policy JSON: one statement (objects nested up to
-- two levels deep) holding both "Effect":"Allow" and a Principal of "*", {"AWS":"*"} or {"AWS":[..."*"...]}.
SELECT event_time, eventname,
       CASE
         WHEN eventname = 'CreateBucket' THEN 'bucket created'
         WHEN eventname = 'DeleteBucket' THEN 'bucket deleted'
         WHEN eventname = 'PutBucketVersioning' THEN 'versioning: '
           || coalesce(json_extract_string(requestparameters, '$.VersioningConfiguration.Status'), 'set')
         WHEN eventname IN ('PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock') THEN
           CASE WHEN eventname = 'PutAccountPublicAccessBlock' THEN 'account ' ELSE '' END
           || 'public access block: '
           || CASE
                WHEN json_extract(requestparameters, '$.PublicAccessBlockConfiguration') IS NULL THEN 'set'
                ELSE coalesce(nullif(concat_ws(', ',
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
                    THEN 'RestrictPublicBuckets=false' END), ''), 'all blocked')
              END
         WHEN eventname = 'DeleteBucketPublicAccessBlock' THEN 'public access block: deleted'
         WHEN eventname = 'DeleteAccountPublicAccessBlock' THEN 'account public access block: deleted'
         WHEN eventname = 'PutBucketPolicy' THEN
           CASE WHEN regexp_matches(requestparameters,
             '\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Principal":(?:"\*"|\{[^{}]*"AWS":(?:"\*"|\[[^\]]*"\*"[^\]]*\])[^{}]*\})(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*"Effect":"Allow"')
             THEN 'policy: allows Principal *' ELSE 'policy: set' END
         WHEN eventname = 'DeleteBucketPolicy' THEN 'policy: deleted'
         WHEN eventname = 'PutBucketLifecycle' THEN
           CASE
             WHEN json_extract(requestparameters, '$.LifecycleConfiguration.Rule[0]') IS NOT NULL THEN 'lifecycle: '
               || CAST(json_array_length(json_extract(requestparameters, '$.LifecycleConfiguration.Rule')) AS VARCHAR)
               || CASE WHEN json_array_length(json_extract(requestparameters, '$.LifecycleConfiguration.Rule')) = 1
                       THEN ' rule' ELSE ' rules' END
             WHEN json_extract(requestparameters, '$.LifecycleConfiguration.Rule') IS NOT NULL THEN 'lifecycle: 1 rule'
             ELSE 'lifecycle: set'
           END
         WHEN eventname = 'DeleteBucketLifecycle' THEN 'lifecycle: deleted'
         WHEN eventname = 'PutBucketReplication' THEN 'replication: set'
         WHEN eventname = 'DeleteBucketReplication' THEN 'replication: deleted'
         WHEN eventname = 'PutBucketEncryption' THEN 'encryption: ' || coalesce(
           json_extract_string(requestparameters,
             '$.ServerSideEncryptionConfiguration.Rule.ApplyServerSideEncryptionByDefault.SSEAlgorithm'),
           json_extract_string(requestparameters,
             '$.ServerSideEncryptionConfiguration.Rule[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm'),
           'set')
         WHEN eventname = 'DeleteBucketEncryption' THEN 'encryption: deleted'
         WHEN eventname = 'PutBucketAcl' THEN 'acl: ' || coalesce(
           nullif(regexp_extract(requestparameters, '"x-amz-acl":\[?"([^"]+)"', 1), ''),
           CASE
             WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AllUsers%' THEN 'grants to AllUsers'
             WHEN requestparameters LIKE '%acs.amazonaws.com/groups/global/AuthenticatedUsers%'
               THEN 'grants to AuthenticatedUsers'
             ELSE 'set'
           END)
         WHEN eventname = 'PutBucketTagging' THEN 'tagging: set'
         WHEN eventname = 'DeleteBucketTagging' THEN 'tagging: deleted'
         WHEN eventname = 'PutBucketLogging' THEN
           CASE WHEN json_extract(requestparameters, '$.BucketLoggingStatus') IS NOT NULL
                 AND json_extract(requestparameters, '$.BucketLoggingStatus.LoggingEnabled') IS NULL
                THEN 'logging: disabled' ELSE 'logging: set' END
         WHEN eventname = 'PutBucketCors' THEN 'cors: set'
         WHEN eventname = 'DeleteBucketCors' THEN 'cors: deleted'
         WHEN eventname = 'PutBucketWebsite' THEN 'website: set'
         WHEN eventname = 'DeleteBucketWebsite' THEN 'website: deleted'
         ELSE eventname
       END AS change,
       bucket_name, user_arn, account_id, sourceipaddress, useragent, awsregion, errorcode, errormessage,
       requestid, requestparameters
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND (eventname LIKE 'PutBucket%' OR eventname LIKE 'DeleteBucket%'
       OR eventname IN ('CreateBucket', 'PutAccountPublicAccessBlock', 'DeleteAccountPublicAccessBlock'))
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket OR bucket_name IS NULL)
  AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
  AND ($operation IS NULL OR eventname = $operation)
ORDER BY event_time, eventid
