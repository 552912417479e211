-- name: object-history
-- title: Everything that happened to an object
-- description: Every access-log request and CloudTrail event on a key (--key, or --prefix), oldest first:
-- description: created, read, copied, tagged, transitioned, deleted, by whom; source says which log it is from.
-- description: The same request can appear once per log. Without --key or --prefix: every event in range.
-- parameters: since, until, bucket, key, prefix, requester
-- columns: event_time, source, action, bucket_name, key, versionid, httpstatus, errorcode, actor, ip, useragent, request_id
-- key_columns: event_time, source, action, actor, ip, httpstatus, errorcode, key, versionid
SELECT event_time, source, action, bucket_name, key, versionid, httpstatus, errorcode, actor, ip, useragent,
       request_id
FROM (
    SELECT request_time AS event_time, 'access_log' AS source, operation AS action, bucket_name, key,
           versionid, httpstatus, errorcode, requester AS actor, remoteip AS ip, useragent,
           requestid AS request_id
    FROM access_log
    WHERE ($since IS NULL OR request_time >= $since)
      AND ($until IS NULL OR request_time < $until)
      AND ($bucket IS NULL OR bucket_name = $bucket)
      AND ($key IS NULL OR key = $key)
      AND ($prefix IS NULL OR starts_with(key, $prefix))
      AND ($requester IS NULL OR strpos(requester, $requester) > 0)
    UNION ALL
    SELECT event_time, 'cloudtrail' AS source, eventname AS action, bucket_name, object_key AS key,
           CAST(NULL AS VARCHAR) AS versionid, CAST(NULL AS SMALLINT) AS httpstatus, errorcode,
           user_arn AS actor, sourceipaddress AS ip, useragent, requestid AS request_id
    FROM cloudtrail
    WHERE ($since IS NULL OR event_time >= $since)
      AND ($until IS NULL OR event_time < $until)
      AND ($bucket IS NULL OR bucket_name = $bucket)
      AND ($key IS NULL OR object_key = $key)
      AND ($prefix IS NULL OR starts_with(object_key, $prefix))
      AND ($requester IS NULL OR strpos(user_arn, $requester) > 0)
) AS history
ORDER BY event_time, source, request_id, action, key
