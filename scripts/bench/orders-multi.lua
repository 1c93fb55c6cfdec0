-- wrk script: like orders.lua, but each buyer/seller pair cycles through several symbols, so
-- consecutive requests touch different books (what lets per-symbol locking differ from one global
-- lock). Keys via env as in orders.lua; the default symbols are trading-api's defaults, each with
-- a price on its tick and a quantity on its lot:
--   BUY_KEY=... SELL_KEY=... wrk -s orders-multi.lua URL
-- SYMBOLS overrides them as "SYM:PRICE:QTY,SYM:PRICE:QTY,...".
local buy_key = os.getenv("BUY_KEY")
local sell_key = os.getenv("SELL_KEY")
local spec = os.getenv("SYMBOLS") or "BTC-USD:60000.00:0.0001,ETH-USD:3000.00:0.001,SOL-USD:150.000:0.01"
local books = {}
for sym, price, qty in string.gmatch(spec, "([^:,]+):([^:,]+):([^:,]+)") do
  table.insert(books, { sym, price, qty })
end
local n = 0

-- Each wrk thread starts on a different book; otherwise the threads walk the books in step and
-- keep colliding on the same one, which would measure that rather than the locking mode.
local threads = 0
setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end
init = function(args)
  n = 2 * (thread_index or 0)
end

request = function()
  n = n + 1
  -- Pairs (sell, buy) on one book, then the next book: every pair trades, the books stay small.
  local book = books[(math.floor((n - 1) / 2) % #books) + 1]
  local side, key
  if n % 2 == 0 then side, key = "buy", buy_key else side, key = "sell", sell_key end
  local body = string.format(
    '{"symbol":"%s","side":"%s","type":"limit","price":"%s","quantity":"%s","time_in_force":"gtc"}',
    book[1], side, book[2], book[3])
  return wrk.format("POST", "/api/v1/orders",
    { ["Content-Type"] = "application/json", ["X-API-Key"] = key }, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests %d\nnon2xx %d\nsocket_errors %d\n", summary.requests,
    e.status, e.connect + e.read + e.write + e.timeout))
  io.write(string.format("rps %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms %.3f\np99_ms %.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
