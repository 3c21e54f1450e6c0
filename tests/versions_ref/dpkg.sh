#!/bin/sh
# Reference for Debian: reads "a<TAB>b" lines, prints -1/0/1 from dpkg --compare-versions, or E
# when dpkg refuses a version.
tab=$(printf '\t')
while IFS="$tab" read -r a b; do
  dpkg --compare-versions "$a" lt "$b" 2>/dev/null
  r=$?
  if [ $r -eq 0 ]; then echo -1
  elif [ $r -ne 1 ]; then echo E
  elif dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then echo 0
  else echo 1
  fi
done < "$1"
