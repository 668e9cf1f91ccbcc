# Drives Debian's ruby-statsd (the statsd-ruby gem) from a JSON op list on stdin.
#
# Input: {"host", "port", "transport": "udp"|"tcp", "batched": bool, "ops": [...]} (see ../client-ops.ts).
# Output: {"calls": N} on stdout.
#
# statsd-ruby 1.4.0 writes TCP messages without a trailing newline, so over TCP only a single
# batch per connection gives well-formed lines (the last one ended by closing the connection).
require 'json'
require 'statsd'

class Statsd
  # Client-side sampling calls `rand`; a test decides instead (a call is kept when rand < rate).
  @@keep_next = true
  def self.keep_next=(keep)
    @@keep_next = keep
  end

  private

  def rand(*)
    @@keep_next ? 0.0 : 0.999999
  end
end

def perform(client, op)
  key = op.fetch('key')
  value = op.fetch('value')
  rate = op.fetch('rate', 1)
  Statsd.keep_next = op.fetch('keep', true)
  case op.fetch('kind')
  when 'timing' then client.timing(key, value, rate)
  when 'count'
    if value == 1 then client.increment(key, rate)
    elsif value == -1 then client.decrement(key, rate)
    else client.count(key, value, rate)
    end
  when 'gauge' then client.gauge(key, value)
  else abort "ruby-statsd client: unsupported op kind #{op['kind'].inspect}"
  end
end

spec = JSON.parse($stdin.read)
client = Statsd.new(spec.fetch('host'), spec.fetch('port'), spec.fetch('transport') == 'tcp' ? :tcp : :udp)
ops = spec.fetch('ops')
if spec.fetch('batched')
  if spec.fetch('transport') == 'tcp'
    # One write for everything: lines joined by "\n", no newline between writes (see above).
    client.batch_size = nil
  end
  client.batch { |batch| ops.each { |op| perform(batch, op) } }
else
  ops.each { |op| perform(client, op) }
end
puts JSON.generate({ 'calls' => ops.length })
