#!/usr/bin/perl
# cu2cpp.pl IN OUT: writes OUT, a copy of the CUDA source IN (backend/cuda/*.cu, *.cuh) that g++
# compiles as C++ against the emulator (tests/cuda_emu/include/cuda_runtime.h). Three rewrites, all
# on the line where they stand (a #line at the top keeps file:line those of IN):
#   k<<<grid, block, smem, stream>>>(args)  ->  emu::launch(k, "k", __FILE__, __LINE__, emu::cfg(grid, block, smem, stream))(args)
#   __shared__ T a[N], b;                   ->  auto &a = emu::shared<T[N]>([] {}); auto &b = emu::shared<T>([] {});
#   extern __shared__ T s[];                ->  T *s = (T *)emu::dynamic_shared();
# and __launch_bounds__(n) before a kernel's name becomes emu::launch_bounds(k, n) at the end of the
# file (a launch with more threads fails, as on the GPU). Anything left of <<<, >>> or __shared__
# that these patterns did not take is an error: extend the patterns rather than guess.
use strict;
use warnings;

my ($in, $out) = @ARGV;
die "usage: cu2cpp.pl IN OUT\n" unless defined $out;
open my $fh, '<', $in or die "cu2cpp.pl: $in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;

my @bounds;
$src =~ s/__launch_bounds__\s*\(([^()]*)\)\s*(\w+)\s*\(/push @bounds, [$2, (split m{,}, $1)[0]]; "$2("/ge;

$src =~ s/extern\s+__shared__\s+(\w[\w\s]*?)\s*(\w+)\s*\[\s*\]\s*;/$1 *$2 = ($1 *)emu::dynamic_shared();/g;

sub shared_decl {
    my ($type, $list) = @_;
    my @out;
    for my $d (split /,/, $list) {
        $d =~ /^\s*(\w+)\s*((?:\[[^\]]*\]\s*)*)$/ or die "cu2cpp.pl: $in: cannot read __shared__ declarator '$d'\n";
        (my $dims = $2) =~ s/\s+$//;
        push @out, "auto &$1 = emu::shared<$type$dims>([] {});";
    }
    return join ' ', @out;
}
$src =~ s/__shared__\s+(\w[\w\s]*?)\s+(\w+\s*(?:\[[^\]]*\]\s*)*(?:,\s*\w+\s*(?:\[[^\]]*\]\s*)*)*);/shared_decl($1, $2)/ge;

$src =~ s/(\w+)\s*<<</emu::launch($1, "$1", __FILE__, __LINE__, emu::cfg(/g;
$src =~ s/>>>\s*\(/))(/g;

my @left = grep { /<<<|>>>|__shared__/ } split /\n/, $src;
die "cu2cpp.pl: $in: not rewritten:\n" . join("\n", @left) . "\n" if @left;

$src .= "\n" unless $src =~ /\n\z/;
$src .= "static const int emu_bounds_$_->[0] = emu::launch_bounds((const void *)$_->[0], $_->[1]);\n" for @bounds;
open my $oh, '>', "$out.tmp" or die "cu2cpp.pl: $out: $!\n";
print $oh "#line 1 \"$in\"\n", $src;
close $oh or die "cu2cpp.pl: $out: $!\n";
rename "$out.tmp", $out or die "cu2cpp.pl: $out: $!\n";
