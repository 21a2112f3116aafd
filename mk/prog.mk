# Build one user-space program, or a static library, from SRCS. A leaf
# Makefile sets PROG (or LIB) and SRCS (and LDLIBS if needed, KRLIB = 1 to
# link libkrelay), then includes this file.

CC ?= cc
CFLAGS ?= -O2 -g
WARNFLAGS = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	    -Wformat=2 -Wno-unused-parameter
ifdef WERROR
WARNFLAGS += -Werror
endif
CPPFLAGS += -I$(TOP)/krelay/uapi -I$(TOP)/libkrelay -D_GNU_SOURCE
ifdef KRLIB
LIBA = $(TOP)/libkrelay/libkrelay.a
endif
ALL_CFLAGS = $(WARNFLAGS) $(CFLAGS) -MMD -MP

ifeq ($(V),1)
Q =
quiet = @:
else
Q = @
quiet = @printf '  %-7s %s\n'
endif

OBJS = $(SRCS:.c=.o)

ifdef LIB
all: $(LIB)

$(LIB): $(OBJS)
	$(quiet) AR $(CURDIR)/$@
	$(Q)rm -f $@ && $(AR) rcs $@ $(OBJS)
else
all: $(PROG)

$(PROG): $(OBJS) $(LIBA)
	$(quiet) LD $(CURDIR)/$@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LIBA) $(LDLIBS)
endif

%.o: %.c
	$(quiet) CC $(CURDIR)/$@
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

clean:
	$(Q)rm -f $(PROG) $(LIB) $(OBJS) $(OBJS:.o=.d) $(EXTRA_CLEAN)

.PHONY: all clean
-include $(OBJS:.o=.d)
