-- name: unusual-client
-- title: Unusual S3 client
-- severity: low
-- logs: access
-- technique: T1530
-- description: Requests whose user agent names a desktop or sync client often used to pull data out (S3
-- description: Browser, Cyberduck, Mountain Duck, rclone, WinSCP, s3cmd, s5cmd, CloudBerry/MSP360, ExpanDrive,
-- description: Transmit, FileZilla), once per client, requester and bucket.
-- identity: bucket_name, principal, client
-- evidence: run requests --bucket {bucket_name} --requester {principal} --since {event_time}
WITH requests AS (
  SELECT *, requester AS principal,
         regexp_extract(useragent,
           '(?i)(S3 Browser|Cyberduck|Mountain ?Duck|rclone|WinSCP|s3cmd|s5cmd|CloudBerry|MSP360|ExpanDrive|Transmit|FileZilla)',
           1) AS client_name
  FROM access_log
  WHERE useragent IS NOT NULL
    AND ($since IS NULL OR request_time >= $since)
    AND ($until IS NULL OR request_time < $until)
)
SELECT min(request_time) AS event_time, bucket_name, arg_min(key, request_time) AS object_key, principal,
       arg_min(remoteip, request_time) AS source_ip,
       arg_min(client_name, request_time) || ' used: ' || count(*) || CASE WHEN count(*) = 1 THEN ' request' ELSE ' requests' END AS detail,
       lower(replace(client_name, ' ', '')) AS client, count(*) AS requests
FROM requests
WHERE client_name <> ''
GROUP BY bucket_name, principal, lower(replace(client_name, ' ', ''))
ORDER BY event_time, bucket_name, principal
