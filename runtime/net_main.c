/* pycm-net's entry point (net.c; the unit tests link net.c without it). */
#include "net.h"

int main(int argc, char **argv)
{
	return pc_net_main(argc, argv);
}
