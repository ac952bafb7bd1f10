-- wrk script for bench/load.sh: one kind of request, described by the environment.
--   LOAD_METHOD   GET (default) or POST
--   LOAD_BODY     the request body; `{n}` in it becomes a number unique to the request,
--                 so that writes of the same shape do not collide (titles, slugs)
--   LOAD_HEADERS  headers separated by `|`: `Authorization: Token abc|Accept: application/x-protobuf`

local method = os.getenv("LOAD_METHOD") or "GET"
local body = os.getenv("LOAD_BODY")
if body == "" then
  body = nil
end
local headers = {}
for header in string.gmatch(os.getenv("LOAD_HEADERS") or "", "[^|]+") do
  local name, value = string.match(header, "^%s*([^:]+):%s*(.*)$")
  if name then
    headers[name] = value
  end
end

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local sent = 0
function request()
  sent = sent + 1
  local this_body = nil
  if body then
    local n = tostring(thread_id) .. "-" .. tostring(sent) .. "-" .. tostring(os.time())
    this_body = string.gsub(body, "{n}", n)
  end
  return wrk.format(method, nil, headers, this_body)
end
