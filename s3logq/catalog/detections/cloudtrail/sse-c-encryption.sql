-- name: sse-c-encryption
-- title: Objects encrypted with customer-provided keys (SSE-C)
-- severity: critical
-- logs: cloudtrail
-- technique: T1486
-- description: PutObject, CopyObject or CreateMultipartUpload data events that carry an SSE-C key, counted
-- description: per principal, bucket and window: the ransomware pattern of 2025 ("Codefinger") re-encrypted
-- description: objects with keys only the attacker holds.
-- threshold: min_objects = 1: SSE-C writes by one principal in one window
-- threshold: window_minutes = 60: the window's length (fixed windows from midnight UTC)
-- identity: bucket_name, principal, window_start
-- evidence: sql "select event_time, eventname, bucket_name, object_key, user_arn from cloudtrail where requestparameters like '%customer-algorithm%' order by event_time"
WITH writes AS (
  SELECT *,
         coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
         to_timestamp(floor(epoch(event_time) / (60 * $window_minutes)) * (60 * $window_minutes)) AS window_start
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('PutObject', 'CopyObject', 'CreateMultipartUpload')
    AND requestparameters LIKE '%x-amz-server-side-encryption-customer-algorithm%'
    AND ($since IS NULL
         OR event_time >= to_timestamp(floor(epoch(CAST($since AS TIMESTAMPTZ)) / (60 * $window_minutes))
                                  * (60 * $window_minutes)))
    AND ($until IS NULL OR event_time < $until)
)
SELECT max(event_time) AS event_time, bucket_name, arg_max(object_key, event_time) AS object_key, principal,
       arg_max(sourceipaddress, event_time) AS source_ip,
       count(*) || CASE WHEN count(*) = 1 THEN ' object' ELSE ' objects' END || ' written with SSE-C keys in ' || $window_minutes || ' minutes' AS detail,
       window_start, window_start + $window_minutes * INTERVAL 1 MINUTE AS window_end,
       count(*) AS objects
FROM writes
GROUP BY bucket_name, principal, window_start
HAVING count(*) >= $min_objects
ORDER BY event_time, bucket_name, principal
