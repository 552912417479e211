-- name: lifecycle-expires-everything
-- title: A lifecycle rule that expires everything
-- severity: high
-- logs: cloudtrail
-- technique: T1485
-- description: A successful PutBucketLifecycle(Configuration) with an enabled rule that has no prefix, tag or
-- description: size filter and expires current objects (or noncurrent versions) within a few days: the whole
-- description: bucket is deleted by S3 itself (the step that followed SSE-C re-encryption in 2025).
-- threshold: max_expiration_days = 1: a rule expiring objects this many days after creation or sooner
-- identity: eventid
-- evidence: run bucket-config-changes --logs cloudtrail --bucket {bucket_name} --since {event_time}
WITH events AS (
  SELECT *, json_extract(requestparameters, '$.LifecycleConfiguration.Rule') AS rules
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('PutBucketLifecycle', 'PutBucketLifecycleConfiguration')
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
),
rules AS (
  -- several rules are an array, one rule an object (it casts to no list)
  SELECT eventid, rule FROM events, unnest(TRY_CAST(rules AS JSON[])) AS listed(rule)
  UNION ALL
  SELECT eventid, rules FROM events WHERE rules IS NOT NULL AND TRY_CAST(rules AS JSON[]) IS NULL
),
expiring AS (
  SELECT eventid,
         min(least(coalesce(expiration_days, noncurrent_days), coalesce(noncurrent_days, expiration_days)))
           AS days  -- Trino's least is NULL when either is: the coalesces make it DuckDB's and Spark's
  FROM (SELECT *, TRY_CAST(json_extract_string(rule, '$.Expiration.Days') AS INTEGER) AS expiration_days,
               TRY_CAST(json_extract_string(rule, '$.NoncurrentVersionExpiration.NoncurrentDays') AS INTEGER)
                 AS noncurrent_days
        FROM rules) AS rule_days
  WHERE json_extract_string(rule, '$.Status') = 'Enabled'
    AND coalesce(json_extract_string(rule, '$.Prefix'), '') = ''
    AND coalesce(json_extract_string(rule, '$.Filter.Prefix'), '') = ''
    AND json_extract(rule, '$.Filter.Tag') IS NULL
    AND json_extract(rule, '$.Filter.And') IS NULL
    AND json_extract(rule, '$.Filter.ObjectSizeGreaterThan') IS NULL
    AND json_extract(rule, '$.Filter.ObjectSizeLessThan') IS NULL
  GROUP BY eventid
)
SELECT e.event_time, e.bucket_name, e.object_key,
       coalesce(e.user_arn, nullif(e.useridentity.invokedby, ''), nullif(e.useridentity.accountid, ''))
         AS principal,
       e.sourceipaddress AS source_ip,
       'lifecycle rule expires every object after ' || x.days || CASE WHEN x.days = 1 THEN ' day' ELSE ' days' END
         AS detail,
       e.eventid, e.eventname, e.account_id
FROM events AS e
JOIN expiring AS x USING (eventid)
WHERE x.days <= $max_expiration_days
ORDER BY e.event_time, e.eventid
