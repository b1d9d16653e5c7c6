#!/bin/sh
# Regenerates the fake sysfs trees used by the topology tests.
# Run from this directory: sh gen.sh
set -eu

# cpu DIR ID CORE PKG SIBLINGS [LEVEL:SHARED ...]
cpu() {
	d=$1/sys/devices/system/cpu/cpu$2
	mkdir -p "$d/topology"
	echo "$3" >"$d/topology/core_id"
	echo "$4" >"$d/topology/physical_package_id"
	echo "$5" >"$d/topology/thread_siblings_list"
	shift 5
	idx=0
	for spec in "$@"; do
		mkdir -p "$d/cache/index$idx"
		echo "${spec%%:*}" >"$d/cache/index$idx/level"
		rest=${spec#*:}
		echo "${rest%%:*}" >"$d/cache/index$idx/type"
		echo "${rest#*:}" >"$d/cache/index$idx/shared_cpu_list"
		idx=$((idx + 1))
	done
}

rm -rf laptop numa2 smt2llc

# laptop: 1 package, 4 cores x 2 threads (siblings n and n+4), one L3,
# no NUMA directory.
mkdir -p laptop/sys/devices/system/cpu
echo 0-7 >laptop/sys/devices/system/cpu/online
echo 0-7 >laptop/sys/devices/system/cpu/possible
for c in 0 1 2 3; do
	for t in $c $((c + 4)); do
		cpu laptop $t $c 0 "$c,$((c + 4))" \
			"1:Data:$c,$((c + 4))" "1:Instruction:$c,$((c + 4))" \
			"2:Unified:$c,$((c + 4))" "3:Unified:0-7"
	done
done

# numa2: 2 packages x 4 cores, no SMT, no cache information (the LLC falls
# back to the package), two NUMA nodes, cpus 8-9 possible but offline.
mkdir -p numa2/sys/devices/system/cpu numa2/sys/devices/system/node/node0 numa2/sys/devices/system/node/node1
echo 0-7 >numa2/sys/devices/system/cpu/online
echo 0-9 >numa2/sys/devices/system/cpu/possible
echo 0-3 >numa2/sys/devices/system/node/node0/cpulist
echo 4-7 >numa2/sys/devices/system/node/node1/cpulist
echo 0-1 >numa2/sys/devices/system/node/online
for c in 0 1 2 3 4 5 6 7; do
	cpu numa2 $c $((c % 4)) $((c / 4)) $c
done
mkdir -p numa2/sys/devices/system/cpu/cpu8 numa2/sys/devices/system/cpu/cpu9

# smt2llc: 1 package, 8 cores x 2 threads (siblings n and n+8), two L3s
# of 4 cores each (like two AMD CCXs), one NUMA node.
mkdir -p smt2llc/sys/devices/system/cpu smt2llc/sys/devices/system/node/node0
echo 0-15 >smt2llc/sys/devices/system/cpu/online
echo 0-15 >smt2llc/sys/devices/system/cpu/possible
echo 0-15 >smt2llc/sys/devices/system/node/node0/cpulist
for c in 0 1 2 3 4 5 6 7; do
	if [ $c -lt 4 ]; then l3=0-3,8-11; else l3=4-7,12-15; fi
	for t in $c $((c + 8)); do
		cpu smt2llc $t $c 0 "$c,$((c + 8))" \
			"1:Data:$c,$((c + 8))" "1:Instruction:$c,$((c + 8))" \
			"2:Unified:$c,$((c + 8))" "3:Unified:$l3"
	done
done
