-- wrk script for bench/writes.sh. The environment says what each request writes:
--   WRITES_SCENARIO  posts-one-author | posts-many-authors | favorites | comments | follows
--   WRITES_TOKENS    a file of tokens, one a line (user N on line N+1)
--   WRITES_TARGET    the post's slug (favorites, comments) or the username (follows)
-- bench/writes.sh runs one wrk thread per connection, so each connection is a thread of
-- its own, and thread K acts for users K, K+threads, K+2*threads, ... in turn (one author
-- only in posts-one-author). A user's requests are therefore never in flight at once, and
-- the toggling scenarios know each user's state: the seed left users with an even number
-- favoriting the hot post and following the author, so their first request undoes that,
-- and every request changes the count.

local scenario = os.getenv("WRITES_SCENARIO")
local tokens_file = os.getenv("WRITES_TOKENS")
local target = os.getenv("WRITES_TARGET")

local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local users = {}   -- this thread's users: { token, on } with on = favorites/follows now
local turn = 0     -- requests made by this thread
local body_text = string.rep("Some text, long enough to look like a paragraph. ", 8)

function init(args)
  local tokens = {}
  for line in io.lines(tokens_file) do
    tokens[#tokens + 1] = line
  end
  local threads = tonumber(os.getenv("WRITES_THREADS"))
  if scenario == "posts-one-author" then
    users[1] = { token = tokens[1] }
  else
    for n = id, #tokens - 1, threads do
      users[#users + 1] = { token = tokens[n + 1], on = n % 2 == 0 }
    end
  end
  if #users == 0 then
    error("thread " .. id .. " has no user: more threads than users")
  end
end

local function headers(token)
  return {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/json",
  }
end

local function toggle(user, path)
  local method = user.on and "DELETE" or "POST"
  user.on = not user.on
  return wrk.format(method, path, headers(user.token), "")
end

function request()
  turn = turn + 1
  local user = users[(turn - 1) % #users + 1]
  if scenario == "posts-one-author" or scenario == "posts-many-authors" then
    local title = string.format("Bench %s thread %d number %d", scenario, id, turn)
    local tag = "tag" .. ((id * 7 + turn) % 50)
    local body = string.format(
      '{"article":{"title":"%s","description":"About %s","body":"# %s\\n\\n%s","tagList":["%s","common"]}}',
      title, title, title, body_text, tag)
    return wrk.format("POST", "/api/articles", headers(user.token), body)
  elseif scenario == "favorites" then
    return toggle(user, "/api/articles/" .. target .. "/favorite")
  elseif scenario == "comments" then
    local body = string.format(
      '{"comment":{"body":"Comment %d from thread %d. %s"}}', turn, id, body_text)
    return wrk.format("POST", "/api/articles/" .. target .. "/comments", headers(user.token), body)
  elseif scenario == "follows" then
    return toggle(user, "/api/profiles/" .. target .. "/follow")
  end
  error("unknown WRITES_SCENARIO " .. tostring(scenario))
end
