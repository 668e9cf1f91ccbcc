# Drives Debian's libnet-statsd-perl (Net::Statsd, UDP only) from a JSON op list on stdin.
#
# Input: {"host", "port", "transport": "udp", "batched": false, "ops": [...]} (see ../client-ops.ts).
# Output: {"calls": N} on stdout.
use strict;
use warnings;

# Net::Statsd samples with rand() (a call is kept when rand() <= rate); a test decides instead.
# The override must exist before Net::Statsd is compiled.
our $KEEP_NEXT;
BEGIN { $KEEP_NEXT = 1; *CORE::GLOBAL::rand = sub { $KEEP_NEXT ? 0.0 : 0.999999 }; }

use JSON::PP ();
use Net::Statsd ();

my $spec = JSON::PP->new->decode(do { local $/; <STDIN> });
die "perl Net::Statsd client: only UDP exists\n" if $spec->{transport} ne 'udp';
$Net::Statsd::HOST = $spec->{host};
$Net::Statsd::PORT = $spec->{port};

for my $op (@{ $spec->{ops} }) {
    my ($kind, $key, $value) = @{$op}{qw(kind key value)};
    my $rate = $op->{rate} // 1;
    $KEEP_NEXT = exists $op->{keep} ? ($op->{keep} ? 1 : 0) : 1;
    if ($kind eq 'timing') {
        Net::Statsd::timing($key, $value, $rate);
    } elsif ($kind eq 'count') {
        if ($value == 1) { Net::Statsd::increment($key, $rate) }
        elsif ($value == -1) { Net::Statsd::decrement($key, $rate) }
        else { Net::Statsd::update_stats($key, $value, $rate) }
    } elsif ($kind eq 'gauge') {
        Net::Statsd::gauge($key => $value);
    } else {
        die "perl Net::Statsd client: unsupported op kind $kind\n";
    }
}
print JSON::PP->new->encode({ calls => scalar @{ $spec->{ops} } }), "\n";
