#!/bin/sh
# Runs inside the image's chroot: build gpio-sim out of tree for the pinned kernel (Debian 12 ships it off).
# irq_sim.c is linked into the module (CONFIG_IRQ_SIM is off too); keep_level=1 makes a released line keep
# its level, as the Raspberry Pi kernel's pinctrl does (mainline gpio-sim returns it to its pull).
set -eu
ABI=$1
cd /root
dpkg-deb --fsys-tarfile linux-source-6.1_*.deb | tar -xO ./usr/src/linux-source-6.1.tar.xz |
  tar -xJ linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
    linux-source-6.1/kernel/irq/irq_sim.c
mkdir -p build
cp linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c build/
cp linux-source-6.1/drivers/gpio/gpio-sim.c build/gpio-sim-main.c
cd build
# irq_to_desc() is not exported to modules: the simulated interrupt goes through generic_handle_irq_safe().
sed -i 's|handle_simple_irq(irq_to_desc(irqnum));|generic_handle_irq_safe(irqnum);|' irq_sim.c
grep -q generic_handle_irq_safe irq_sim.c
# The patch: a module parameter, and gpio_sim_free() leaves value_map alone when it is set.
sed -i 's|^#include "gpiolib.h"|#include "gpiolib.h"\n\nstatic bool keep_level;\nmodule_param(keep_level, bool, 0444);\nMODULE_PARM_DESC(keep_level, "a released line keeps its level (as on a Raspberry Pi)");|' gpio-sim-main.c
sed -i 's|^\t__assign_bit(offset, chip->value_map, !!test_bit(offset, chip->pull_map));|\tif (!keep_level)\n\t\t__assign_bit(offset, chip->value_map, !!test_bit(offset, chip->pull_map));|' gpio-sim-main.c
grep -q 'if (!keep_level)' gpio-sim-main.c
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >Kbuild
make -C "/usr/src/linux-headers-$ABI" M="$PWD" modules
install -D -m 0644 gpio-sim.ko "/lib/modules/$ABI/updates/gpio-sim.ko"
depmod "$ABI"
