"""The HTTP load generator: ``wrk`` (C, epoll; Debian's package) with a Lua script.

One wrk thread per connection, so each connection's Lua state is its own: the
command mix keeps its own pools of case ids per connection (a user working on
their own cases), fed from files written before the run and from the responses
(an opened case joins the connection's pool of cases to submit, a submitted one
the pool for follow-ups, notes and evidence). Every response is counted by status
and by kind; the ``done`` hook prints one JSON line that ``run_wrk`` parses.

Only 2xx answers count: each request is timed in the script itself (LuaJIT's ffi
and ``clock_gettime(CLOCK_MONOTONIC)``, from building the request to its parsed
response, which is where wrk's own timer starts and stops), and the ``done`` hook
writes the 2xx latencies to a file. Throughput is 2xx answers per second and the
percentiles are over 2xx answers; non-2xx answers are counted, reported and left
out. wrk's own histogram (every answer) is kept in the raw figures beside them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentile, say

#: binary -> Debian package, installed when missing and we are root (like dev.py does)
SYSTEM_BENCH_PACKAGES: dict[str, str] = {"wrk": "wrk"}


def ensure_wrk() -> str:
    if not shutil.which("wrk") and shutil.which("apt-get") and os.geteuid() == 0:
        say("installing wrk with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
            check=False,
            env=env,
        )
    wrk = shutil.which("wrk")
    if not wrk:
        raise RuntimeError("wrk is needed for the HTTP sections: apt-get install wrk")
    return wrk


# The shared part of every script: counting, and the JSON summary at the end.
LUA_COMMON = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local threads = {}
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

counts = {}
kinds = {}
ok_us = {}
last_kind = "-"
last_case = nil
local sent_at = 0

-- every script's request() calls this last, just before wrk writes the request
local function sending(req)
  sent_at = now_us()
  return req
end

local function count(status)
  if status >= 200 and status < 300 then
    ok_us[#ok_us + 1] = math.floor(now_us() - sent_at + 0.5)
  end
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  local k = last_kind .. " " .. key
  kinds[k] = (kinds[k] or 0) + 1
end

local function merge(into, from)
  for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end

function done(summary, latency, requests)
  local all_counts, all_kinds, extra = {}, {}, {}
  local out = io.open(os.getenv("BENCH_LATENCY_FILE") or "/dev/null", "w")
  for _, t in ipairs(threads) do
    merge(all_counts, t:get("counts"))
    merge(all_kinds, t:get("kinds"))
    merge(extra, t:get("extra"))
    local mine = t:get("ok_us") or {}
    for i = 1, #mine do out:write(mine[i], "\n") end
  end
  out:close()
  local function obj(tbl)
    local parts = {}
    for k, v in pairs(tbl) do
      table.insert(parts, string.format("%q:%d", k, v))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"counts":%s,"kinds":%s,"extra":%s}\n',
    math.floor(summary.requests), math.floor(summary.duration), math.floor(summary.bytes),
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max), latency.mean,
    math.floor(e.connect), math.floor(e.read), math.floor(e.write),
    math.floor(e.status), math.floor(e.timeout),
    obj(all_counts), obj(all_kinds), obj(extra)))
end
"""

LUA_BARE = r"""
local body = '{"platform":"temu","amount":"25.00","currency":"USD","message":"hello"}'
local headers = {["Content-Type"] = "application/json"}
function request()
  last_kind = "post"
  return sending(wrk.format("POST", "@PATH@", headers, body))
end
function response(status, headers, body)
  count(status)
end
"""

# Issue 10's mix: follow-ups and notes, both with occurred_at, over cases opened and
# submitted before the run. Each connection works on its own share of them (the
# cases file's lines tid, tid + clients, ...), as one user on their own cases.
LUA_ISSUE = r"""
local path = "@CASES@"
local key = "@KEY@"
local clients = @CLIENTS@
local follow_share = @FOLLOW_SHARE@
-- a paced run (run_wrk's pace_ms): each connection waits this long before each request
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "0") or 0
if pace_ms > 0 then
  function delay() return pace_ms end
end
-- unique per wrk process (warm-up and measured runs must not share idempotency keys)
local run_id = string.format("%s-%d", "@RUN@", os.time())
local mine = {}
local n = 0

function init(args)
  local me = tid or 1
  local i = 0
  for line in io.lines(path) do
    if #line > 0 then
      if i % clients == me - 1 then table.insert(mine, line) end
      i = i + 1
    end
  end
  math.randomseed(me * 7919)
end

local FOLLOW = '{"channel":"live_chat","message":"No answer yet",' ..
  '"occurred_at":"2026-02-05T09:00:00Z"}'
local NOTE = '{"text":"Called support, they said to wait a week",' ..
  '"occurred_at":"2026-02-05T10:00:00Z"}'

function request()
  n = n + 1
  local headers = {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, tid or 1, n),
  }
  last_case = mine[math.random(#mine)]
  if math.random() < follow_share then
    last_kind = "follow_up"
    return sending(wrk.format("POST", "/v1/cases/" .. last_case .. "/follow-up", headers, FOLLOW))
  end
  last_kind = "note"
  return sending(wrk.format("POST", "/v1/cases/" .. last_case .. "/notes", headers, NOTE))
end

function response(status, headers, body)
  count(status)
end
"""

# The realistic mix. Weights are of the requests sent; a command whose pool is empty
# turns into an open (which refills the pools).
LUA_MIX = r"""
local dir = "@DIR@"
local key = "@KEY@"
-- unique per wrk process (warm-up and measured runs must not share idempotency keys)
local run_id = string.format("%s-%d", "@RUN@", os.time())
local weights = {
  {"open", @W_OPEN@}, {"submit", @W_SUBMIT@}, {"follow_up", @W_FOLLOW@},
  {"note", @W_NOTE@}, {"evidence", @W_EVIDENCE@},
}
local total_weight = 0
for _, w in ipairs(weights) do total_weight = total_weight + w[2] end

local opened, submitted = {}, {}
local evidence_body, boundary
local n = 0
extra = {}

local function read_lines(path)
  local out = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do if #line > 0 then table.insert(out, line) end end
    f:close()
  end
  return out
end

function init(args)
  local me = tid or 1
  opened = read_lines(dir .. "/opened-" .. me .. ".txt")
  submitted = read_lines(dir .. "/submitted-" .. me .. ".txt")
  local f = io.open(dir .. "/evidence.body", "rb")
  evidence_body = f:read("*a")
  f:close()
  boundary = read_lines(dir .. "/evidence.boundary")[1]
  math.randomseed(me * 7919)
end

local json = {["Content-Type"] = "application/json"}

local function headers_for(content_type)
  n = n + 1
  return {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = content_type,
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, tid or 1, n),
  }
end

local function pick()
  local r = math.random() * total_weight
  for _, w in ipairs(weights) do
    r = r - w[2]
    if r <= 0 then return w[1] end
  end
  return weights[#weights][1]
end

local OPEN = '{"platform":"temu","account_reference":"temu-4411","credit_type":"store",' ..
  '"amount":"25.00","currency":"USD","problem":"expired","remedy":"reinstate",' ..
  '"earned_on":"2026-01-10","expires_on":"2026-12-10","occurred_at":"2026-02-01T09:00:00Z"}'
local SUBMIT = '{"channel":"support_ticket","reference":"T-1001",' ..
  '"message":"My store credit expired without notice","occurred_at":"2026-02-02T09:00:00Z"}'
local FOLLOW = '{"channel":"live_chat","message":"No answer yet",' ..
  '"occurred_at":"2026-02-05T09:00:00Z"}'
local NOTE = '{"text":"Called support, they said to wait a week"}'

local function build()
  local kind = pick()
  if kind == "submit" and #opened == 0 then
    kind = "open"
    extra["submit->open"] = (extra["submit->open"] or 0) + 1
  end
  if kind ~= "open" and kind ~= "submit" and #submitted == 0 then kind = "open" end
  last_kind = kind
  if kind == "open" then
    last_case = nil
    return wrk.format("POST", "/v1/credits", headers_for("application/json"), OPEN)
  elseif kind == "submit" then
    last_case = table.remove(opened)
    return wrk.format("POST", "/v1/cases/" .. last_case .. "/submit",
      headers_for("application/json"), SUBMIT)
  end
  last_case = submitted[math.random(#submitted)]
  if kind == "follow_up" then
    return wrk.format("POST", "/v1/cases/" .. last_case .. "/follow-up",
      headers_for("application/json"), FOLLOW)
  elseif kind == "note" then
    return wrk.format("POST", "/v1/cases/" .. last_case .. "/notes",
      headers_for("application/json"), NOTE)
  end
  return wrk.format("POST", "/v1/cases/" .. last_case .. "/evidence",
    headers_for("multipart/form-data; boundary=" .. boundary), evidence_body)
end

function request()
  return sending(build())
end

function response(status, headers, body)
  count(status)
  if last_kind == "open" and status == 201 then
    local id = string.match(body, '"id":"([0-9a-f%-]+)"')
    if id then table.insert(opened, id) end
  elseif last_kind == "submit" and status == 200 and last_case then
    table.insert(submitted, last_case)
  end
end
"""


@dataclass
class WrkResult:
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: dict[str, int]
    counts: dict[str, int]
    kinds: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    #: latency of every 2xx answer, in milliseconds, timed by the script (see above)
    ok_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> int:
        """2xx answers: the only ones the figures count."""
        return sum(n for status, n in self.counts.items() if status.startswith("2"))

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def ok_percentile(self, q: float) -> float:
        return percentile(self.ok_ms, q)

    @property
    def p50(self) -> float:
        """p50 over 2xx answers, ms."""
        return self.ok_percentile(50)

    @property
    def p90(self) -> float:
        return self.ok_percentile(90)

    @property
    def p99(self) -> float:
        """p99 over 2xx answers, ms."""
        return self.ok_percentile(99)

    @property
    def max(self) -> float:
        return max(self.ok_ms, default=float("nan"))

    def describe(self) -> str:
        text = f"{self.rate:,.0f} req/s (2xx), p50 {self.p50:.2f} ms, p99 {self.p99:.2f} ms"
        if self.non_2xx:
            text += f", {self.non_2xx} non-2xx left out ({self.non_2xx_counts()})"
        if self.socket_errors:
            text += f", {self.socket_errors} socket errors"
        return text

    def non_2xx_counts(self) -> str:
        bad = {k: v for k, v in self.counts.items() if not k.startswith("2")}
        return ", ".join(f"{v} × {k}" for k, v in sorted(bad.items()))

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.counts.items() if not status.startswith("2"))

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")

    def as_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rate": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "counts": self.counts,
            "kinds": self.kinds,
            "extra": self.extra,
        }


def combine(runs: list[WrkResult]) -> WrkResult:
    """Several runs of one configuration as one: their answers and seconds added, the
    2xx percentiles over every run's 2xx answers. wrk's own histograms do not add up:
    their percentiles are left out (NaN), its mean is weighted by requests."""
    if not runs:
        raise ValueError("no runs to combine")

    def added(dicts: list[dict[str, int]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in dicts:
            for k, v in d.items():
                out[k] = out.get(k, 0) + v
        return out

    requests = sum(r.requests for r in runs)
    nan = float("nan")
    return WrkResult(
        clients=runs[0].clients,
        requests=requests,
        seconds=sum(r.seconds for r in runs),
        p50_ms=nan,
        p90_ms=nan,
        p99_ms=nan,
        max_ms=max(r.max_ms for r in runs),
        mean_ms=sum(r.mean_ms * r.requests for r in runs) / requests if requests else nan,
        errors=added([r.errors for r in runs]),
        counts=added([r.counts for r in runs]),
        kinds=added([r.kinds for r in runs]),
        extra=added([r.extra for r in runs]),
        ok_ms=[ms for r in runs for ms in r.ok_ms],
    )


def write_script(path: Path, body: str, **values: object) -> Path:
    text = LUA_COMMON + body
    values.setdefault("RUN", secrets.token_hex(6))
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    path.write_text(text)
    return path


def run_wrk(
    url: str,
    script: Path,
    *,
    clients: int,
    duration: float,
    timeout: float = 10.0,
    pace_ms: float = 0.0,
) -> WrkResult:
    """One wrk run: ``clients`` connections, one thread each, for ``duration`` seconds;
    with ``pace_ms``, each connection waits that long before each request (issue 10's
    script only)."""
    import tempfile

    wrk = ensure_wrk()
    seconds = max(1, round(duration))
    command = [
        wrk,
        f"-t{clients}",
        f"-c{clients}",
        f"-d{seconds}s",
        f"--timeout={int(timeout)}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    with tempfile.NamedTemporaryFile(prefix="wrk-latency-", suffix=".txt") as latencies:
        env = {**os.environ, "BENCH_LATENCY_FILE": latencies.name}
        if pace_ms:
            env["BENCH_PACE_MS"] = str(int(pace_ms))
        out = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        ok_ms = [int(x) / 1000 for x in Path(latencies.name).read_text().split()]
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        tail = f"{out.stderr[-2000:]}{out.stdout[-2000:]}"
        raise RuntimeError(f"wrk failed ({out.returncode}): {tail}")
    data = json.loads(line[len("WRKJSON ") :])
    return WrkResult(
        clients=clients,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        errors=data["errors"],
        counts=data["counts"],
        kinds=data["kinds"],
        extra=data["extra"],
        ok_ms=ok_ms,
    )
