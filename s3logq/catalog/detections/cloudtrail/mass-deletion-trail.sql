-- name: mass-deletion-trail
-- title: Many objects deleted by one principal (CloudTrail data events)
-- severity: high
-- logs: cloudtrail
-- technique: T1485
-- description: Objects deleted by successful DeleteObject and DeleteObjects data events of one principal on one
-- description: bucket, counted in fixed windows (each key of a DeleteObjects counts).
-- threshold: min_objects = 100: objects deleted by one principal in one window
-- threshold: window_minutes = 10: the window's length (fixed windows from midnight UTC)
-- identity: bucket_name, principal, window_start
-- evidence: run object-deletions --logs cloudtrail --bucket {bucket_name} --requester {principal} --since {window_start} --until {window_end}
WITH deletes AS (
  SELECT *,
         coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
         to_timestamp(floor(epoch(event_time) / (60 * $window_minutes)) * (60 * $window_minutes)) AS window_start,
         -- a DeleteObjects of several keys lists them in an array; of one key, an object (no array length)
         CASE WHEN eventname = 'DeleteObject' THEN 1
              ELSE coalesce(nullif(json_array_length(json_extract(requestparameters, '$.delete.Object')), 0), 1)
              END AS objects
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('DeleteObject', 'DeleteObjects')
    AND ($since IS NULL
         OR event_time >= to_timestamp(floor(epoch(CAST($since AS TIMESTAMPTZ)) / (60 * $window_minutes))
                                  * (60 * $window_minutes)))
    AND ($until IS NULL OR event_time < $until)
)
SELECT max(event_time) AS event_time, bucket_name, arg_max(object_key, event_time) AS object_key, principal,
       arg_max(sourceipaddress, event_time) AS source_ip,
       sum(objects) || ' objects deleted in ' || $window_minutes || ' minutes' AS detail,
       window_start, window_start + $window_minutes * INTERVAL 1 MINUTE AS window_end,
       CAST(sum(objects) AS BIGINT) AS objects
FROM deletes
GROUP BY bucket_name, principal, window_start
HAVING sum(objects) >= $min_objects
ORDER BY event_time, bucket_name, principal
