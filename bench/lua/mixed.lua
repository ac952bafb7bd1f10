-- wrk script for bench/soak.sh: a publication's day in small, one request of each kind in
-- turn. Reads: the list signed in and anonymous, by tag, one article, its comments, the tags,
-- /api/v1 and search; writes: an article and a comment on it (one in five requests).
--   LOAD_TOKEN  a user's token   LOAD_SLUG  an article to read and comment on

local token = os.getenv("LOAD_TOKEN")
local slug = os.getenv("LOAD_SLUG")
local auth = { ["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json" }

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local turn = 0
function request()
  turn = turn + 1
  local kind = turn % 10
  if kind == 0 then
    local body = '{"article":{"title":"Soak ' .. thread_id .. " " .. turn .. " " .. os.time() ..
      '","description":"d","body":"A paragraph.","tagList":["soak"]}}'
    return wrk.format("POST", "/api/articles", auth, body)
  elseif kind == 5 then
    return wrk.format("POST", "/api/articles/" .. slug .. "/comments", auth,
      '{"comment":{"body":"A comment written during the soak."}}')
  elseif kind == 1 then
    return wrk.format("GET", "/api/articles", auth)
  elseif kind == 2 then
    return wrk.format("GET", "/api/articles?tag=topic-" .. (turn % 20 + 1))
  elseif kind == 3 then
    return wrk.format("GET", "/api/articles/" .. slug)
  elseif kind == 4 then
    return wrk.format("GET", "/api/articles/" .. slug .. "/comments?limit=20")
  elseif kind == 6 then
    return wrk.format("GET", "/api/tags")
  elseif kind == 7 then
    return wrk.format("GET", "/api/v1/posts?limit=20")
  elseif kind == 8 then
    return wrk.format("GET", "/api/v1/search?q=replication")
  else
    return wrk.format("GET", "/api/articles?offset=" .. (turn % 1000))
  end
end
