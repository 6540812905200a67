# CO-RE test objects: testdata/core_*.c and testdata/tool_*.c include vmlinux.h, generated from
# the BTF of the machine the tests run on. Not included by the Makefile (yet); use it as
#   make -C testdata -f Makefile -f core.mk vmlinux.h     # regenerate the header
#   make -C testdata -f Makefile -f core.mk               # rebuild objects when it changed
# vmlinux.h is committed, so building the objects never needs bpftool or kernel BTF.

BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

CORE_SOURCES := $(wildcard core_*.c tool_*.c)
$(CORE_SOURCES:.c=-el.elf) $(CORE_SOURCES:.c=-eb.elf): vmlinux.h

.PHONY: vmlinux.h
vmlinux.h:
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	mv $@.tmp $@
