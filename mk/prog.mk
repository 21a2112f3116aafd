# Build one user-space program from SRCS. A leaf Makefile sets PROG and
# SRCS (and LDLIBS if needed), then includes this file.

CC ?= cc
CFLAGS ?= -O2 -g
WARNFLAGS = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	    -Wformat=2 -Wno-unused-parameter
ifdef WERROR
WARNFLAGS += -Werror
endif
CPPFLAGS += -I$(TOP)/krelay/uapi -D_GNU_SOURCE
ALL_CFLAGS = $(WARNFLAGS) $(CFLAGS) -MMD -MP

ifeq ($(V),1)
Q =
quiet = @:
else
Q = @
quiet = @printf '  %-7s %s\n'
endif

OBJS = $(SRCS:.c=.o)

all: $(PROG)

$(PROG): $(OBJS)
	$(quiet) LD $(CURDIR)/$@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

%.o: %.c
	$(quiet) CC $(CURDIR)/$@
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

clean:
	$(Q)rm -f $(PROG) $(OBJS) $(OBJS:.o=.d) $(EXTRA_CLEAN)

.PHONY: all clean
-include $(OBJS:.o=.d)
