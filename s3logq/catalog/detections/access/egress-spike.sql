-- name: egress-spike
-- title: One principal's egress far above its usual volume
-- severity: medium
-- logs: access
-- technique: T1530
-- description: Bytes sent to one requester from one bucket in a UTC day, against that requester's own daily
-- description: average on the bucket over the days before (days without requests count as zero); requesters
-- description: with no earlier bytes are left to first-seen-requester.
-- threshold: multiplier = 10: the day's bytes are at least this many times the daily average
-- threshold: min_bytes = 1000000000: and at least this many bytes
-- threshold: baseline_days = 14: the days before it that make the average
-- identity: bucket_name, principal, day
-- history: all
-- evidence: run top-requesters --bucket {bucket_name} --since {day} --until {day_end}
WITH daily AS (
  SELECT bucket_name, requester, date_trunc('day', request_time) AS day, CAST(sum(bytessent) AS BIGINT) AS bytes,
         max(request_time) AS last_time, arg_max(remoteip, request_time) AS last_ip,
         arg_max(key, request_time) AS last_key
  FROM access_log
  WHERE requester IS NOT NULL
    AND bytessent > 0
    AND ($since IS NULL OR request_time >= date_trunc('day', CAST($since AS TIMESTAMPTZ))
                                          - $baseline_days * INTERVAL 1 DAY)
    AND ($until IS NULL OR request_time < $until)
  GROUP BY bucket_name, requester, date_trunc('day', request_time)
),
compared AS (
  -- a join rather than a correlated subquery with a range: every engine plans it (Trino may refuse the other)
  SELECT d.bucket_name, d.requester, d.day, d.bytes, d.last_time, d.last_ip, d.last_key,
         sum(b.bytes) / $baseline_days AS daily_average
  FROM daily AS d
  LEFT JOIN daily AS b
    ON b.bucket_name = d.bucket_name AND b.requester = d.requester
   AND b.day < d.day AND b.day >= d.day - $baseline_days * INTERVAL 1 DAY
  WHERE $since IS NULL OR d.day >= date_trunc('day', CAST($since AS TIMESTAMPTZ))
  GROUP BY d.bucket_name, d.requester, d.day, d.bytes, d.last_time, d.last_ip, d.last_key
)
SELECT last_time AS event_time, bucket_name, last_key AS object_key, requester AS principal,
       last_ip AS source_ip,
       -- as decimals: Spark writes a double of 10,000,000 or more as 1.0E7
       bytes || ' bytes sent in a day, ' || CAST(round(bytes / daily_average, 1) AS DECIMAL(38, 1))
         || ' times the daily average of ' || CAST(round(daily_average) AS DECIMAL(38, 1)) AS detail,
       day, day + INTERVAL 1 DAY AS day_end, bytes, daily_average
FROM compared
WHERE daily_average > 0
  AND bytes >= $min_bytes
  AND bytes >= $multiplier * daily_average
ORDER BY event_time, bucket_name, principal
